# chatmail-backup: the relay's backups with restic (backup CronJob,
# restore init container) and the move from and to upstream's layout
PROGRAMS += chatmail-backup
chatmail-backup_DIR := services/chatmail-backup
chatmail-backup_SRCS := $(sort $(wildcard services/chatmail-backup/*.c))
chatmail-backup_LDLIBS = -Wl,--as-needed
chatmail-backup_TESTDIR := tests/unit/services/chatmail-backup
