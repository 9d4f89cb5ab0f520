# filtermail-transport: filtermail's transport mode (LMTP 10083, remote
# delivery over HTTPS /mxdeliv and SMTP), as a binary of its own so that
# only it loads libcurl: `filtermail <ini> transport` runs it (same
# directory), the command line stays upstream's. Its code is filtermail's
# (libfiltermail.a: fm_lmtpd.c, fm_tp*.c); only main.c is here.
PROGRAMS += filtermail-transport
filtermail-transport_DIR := services/filtermail-transport
filtermail-transport_SRCS := services/filtermail-transport/main.c
filtermail-transport_INC := services/filtermail
filtermail-transport_LIBS = $(BUILD)/lib/libfiltermail.a
filtermail-transport_LDLIBS = -lresolv -pthread $(CURL_LDLIBS)
filtermail-transport_TESTDIR := tests/unit/services/filtermail-transport
