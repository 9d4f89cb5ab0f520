# smtpbench: the SMTP load generator of the filtermail benchmark
# (tests/bench/bench_filtermail.sh); not part of a relay.
PROGRAMS += smtpbench
smtpbench_DIR := services/smtpbench
smtpbench_SRCS := $(sort $(wildcard services/smtpbench/*.c))
smtpbench_LDLIBS =
smtpbench_TESTDIR := tests/unit/services/smtpbench
