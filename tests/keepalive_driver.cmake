# The push driver: pure helpers (unit), and lab soak tests (label lab).
ni_unit_test(test_push SOURCES test_push.c)
