# newemail: the /new endpoint (upstream's newemail.py CGI) as a small
# HTTP service behind nginx
PROGRAMS += newemail
newemail_DIR := services/newemail
newemail_SRCS := $(sort $(wildcard services/newemail/*.c))
newemail_LDLIBS = -Wl,--as-needed
newemail_TESTDIR := tests/unit/services/newemail
