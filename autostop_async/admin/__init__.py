"""The admin side: ``deploy`` and ``undeploy`` put the daemon on every Code Editor space of a
SageMaker Studio domain, from the admin's machine, and take it off again.

Modules, in the order a deploy uses them:

* :mod:`.settings`: the daemon's settings, checked with the daemon's own parser;
* :mod:`.checks`: the region, the credentials and the domain, before anything slow;
* :mod:`.lock`: the lock file of the wheelhouse's dependencies (and its update command);
* :mod:`.checkout`: the checkout deploy builds from, and pip run on it;
* :mod:`.wheelhouse`: the package and its locked dependencies as binary wheels, keyed before
  building, cached locally;
* :mod:`.lcc`: the start script rendered from ``lcc/on-start.sh``, the LCC (a loader), chaining;
* :mod:`.studio`: what the domain, its user profiles and spaces hold now (read calls only);
* :mod:`.plan`: before → after per resource (pure), and its text;
* :mod:`.s3`: where things go in S3, the upload, the deployment record (the before-images);
* :mod:`.apply`: the writes, in an order that can be undone;
* :mod:`.policy`: the IAM policies the admin and the execution roles need;
* :mod:`.deploy_cli`: the two commands.
"""
