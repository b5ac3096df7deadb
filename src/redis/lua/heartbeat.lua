-- Nothing beyond the prelude: records the heartbeat (and maybe maintains).
return 1
