"""What runs machines for the local server, behind one seam.

`seam` is the `Engine` interface the service runs machines through; `statechart` runs
python-statemachine charts in the server's process; `xstate` runs XState modules in a pool
of worker processes (`xstate_worker`, the only place V8 runs, with `js/web.js` and
`js/engine.js`). Nothing here imports the service, the HTTP app or the store.
"""
