# The keepalive state file's parser: accepted files must have a canonical
# form that is a fixed point of parse + render.
ni_fuzz_target(fuzz_ka_state fuzz_ka_state.c)
# The scheduler fed arbitrary event sequences: it must keep its invariants.
ni_fuzz_target(fuzz_ka_events fuzz_ka_events.c)
