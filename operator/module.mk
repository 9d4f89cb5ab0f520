# chatmail-operator: the controller (operator/*.c), the config renderer
# (operator/render/) and the web content renderer (operator/web/)
PROGRAMS += chatmail-operator
chatmail-operator_DIR := operator
chatmail-operator_SRCS := $(sort $(wildcard operator/*.c operator/render/*.c operator/web/*.c))
chatmail-operator_LDLIBS = $(shell $(PKG_CONFIG) --libs libcurl yaml-0.1 libqrencode)
chatmail-operator_TESTDIR := tests/unit/operator
