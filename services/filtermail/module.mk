# filtermail: the before-queue SMTP filter (outgoing 10080, incoming
# 10081), the incoming HTTP /mxdeliv endpoint (10082), reinjection into
# Postfix, DKIM signing and verification, and the transport (LMTP 10083:
# remote delivery over HTTPS /mxdeliv and SMTP; libcurl), whose binary is
# services/filtermail-transport.
PROGRAMS += filtermail
filtermail_DIR := services/filtermail
filtermail_SRCS := $(sort $(wildcard services/filtermail/*.c))
# libcurl only where the transport's objects are linked (its program,
# unit tests, fuzz targets): --as-needed drops it from filtermail itself
filtermail_LDLIBS = -lresolv -pthread -Wl,--as-needed $(CURL_LDLIBS)
filtermail_TESTDIR := tests/unit/services/filtermail
