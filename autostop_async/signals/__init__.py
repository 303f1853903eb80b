"""The activity signals polled between deadlines, each behind the small interface of
:mod:`.base`: the editor's heartbeat and its data layout (:mod:`.editor`, :mod:`.editor_layout`),
the terminals (:mod:`.terminals`), CPU and GPU use (:mod:`.busy`).

The workspace walk and git's records, consulted at deadlines, are :mod:`autostop_async.changes`;
:mod:`autostop_async.signal_set` builds the set the settings switch on.
"""
