"""autostop-async: delete an idle SageMaker Studio Code Editor app, and never a busy one."""

__version__ = "0.1.0"
