// Stand-in for SageMaker Code Editor's idle extension (for the end-to-end tests only).
// Like the real one, it writes `new Date().toISOString()` (no newline; truncate, then write) to
// /tmp/.sagemaker-last-active-timestamp when it is activated and whenever a text document
// changes, the active editor or the selection changes, or a terminal opens or closes.
// Plain JavaScript, no build step; packed into a .vsix by tests/e2e/editor.py.
"use strict";
const fs = require("fs");
const vscode = require("vscode");

const FILE = process.env.AUTOSTOP_E2E_HEARTBEAT_FILE || "/tmp/.sagemaker-last-active-timestamp";

function beat() {
  try {
    fs.writeFileSync(FILE, new Date().toISOString());
  } catch (err) {
    console.error(`autostop-e2e-heartbeat: cannot write ${FILE}: ${err}`);
  }
}

function activate(context) {
  beat();
  for (const event of [
    vscode.workspace.onDidChangeTextDocument,
    vscode.window.onDidChangeActiveTextEditor,
    vscode.window.onDidChangeTextEditorSelection,
    vscode.window.onDidOpenTerminal,
    vscode.window.onDidCloseTerminal,
  ]) {
    context.subscriptions.push(event(beat));
  }
}

function deactivate() {}

module.exports = { activate, deactivate };
