# chatmail-quota-expire: Dovecot's quota-warning script. Its code is the
# quota trim of chatmail-expire (services/chatmail-expire/expire_quota.c,
# compiled into both programs); its tests live with chatmail-expire's.
PROGRAMS += chatmail-quota-expire
chatmail-quota-expire_DIR := services/chatmail-quota-expire
chatmail-quota-expire_SRCS := services/chatmail-quota-expire/main.c \
	services/chatmail-expire/expire_quota.c
chatmail-quota-expire_LDLIBS = -Wl,--as-needed
chatmail-quota-expire_TESTDIR := tests/unit/services/chatmail-quota-expire
