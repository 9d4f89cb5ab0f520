# services/lib: libcm.a, shared by every service and the operator
LIBCM_SRCS := $(sort $(wildcard services/lib/*.c))
