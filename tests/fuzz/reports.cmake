# The CSV reader (reports/csv.c) fed arbitrary bytes; rows it accepts must
# survive a write and a second read unchanged.
ni_fuzz_target(fuzz_csv fuzz_csv.c)
