# chatmail-turn: TURN server (RFC 8656 UDP relay, TURN REST credentials)
PROGRAMS += chatmail-turn
chatmail-turn_DIR := services/chatmail-turn
chatmail-turn_SRCS := $(sort $(wildcard services/chatmail-turn/*.c))
chatmail-turn_LDLIBS =
chatmail-turn_TESTDIR := tests/unit/services/chatmail-turn
