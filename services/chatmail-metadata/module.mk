# chatmail-metadata: IMAP METADATA dict server and push notifier
PROGRAMS += chatmail-metadata
chatmail-metadata_DIR := services/chatmail-metadata
chatmail-metadata_SRCS := $(sort $(wildcard services/chatmail-metadata/*.c))
chatmail-metadata_LDLIBS = $(shell $(PKG_CONFIG) --libs libcurl)
chatmail-metadata_TESTDIR := tests/unit/services/chatmail-metadata
