# filtermail: the before-queue SMTP filter (outgoing 10080, incoming
# 10081), the incoming HTTP /mxdeliv endpoint (10082), reinjection into
# Postfix, DKIM signing and verification, and the transport (LMTP 10083:
# remote delivery over HTTPS /mxdeliv and SMTP; libcurl).
PROGRAMS += filtermail
filtermail_DIR := services/filtermail
filtermail_SRCS := $(sort $(wildcard services/filtermail/*.c))
filtermail_LDLIBS = -lresolv -pthread $(CURL_LDLIBS)
filtermail_TESTDIR := tests/unit/services/filtermail
