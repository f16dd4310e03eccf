# The keepalive scheduler: state machine, learning on the simulated NAT,
# coalesced wakeups, the per-network state file.  All in simulated time.
ni_unit_test(test_sched SOURCES test_sched.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_learn SOURCES test_sched_learn.c LABELS unit TIMEOUT 60)
target_link_libraries(test_sched_learn PRIVATE m)
ni_unit_test(test_sched_group SOURCES test_sched_group.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_state SOURCES test_sched_state.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_push SOURCES test_sched_push.c LABELS unit TIMEOUT 60)
ni_unit_test(test_latency SOURCES test_latency.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_radio SOURCES test_sched_radio.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_time SOURCES test_sched_time.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_protocol SOURCES test_sched_protocol.c LABELS unit TIMEOUT 30)
ni_unit_test(test_sched_server SOURCES test_sched_server.c LABELS unit TIMEOUT 30)
