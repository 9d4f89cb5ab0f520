# chatmail-operator: the controller (operator/*.c: reconcile, desired
# objects, status, keys) on the generic Kubernetes client
# (operator/kube/: client, kubeconfig, watch, informer, work queue,
# leader election, events, metrics), linked with the relay library
# (relay/: spec, renderers, web content).
PROGRAMS += chatmail-operator
chatmail-operator_DIR := operator
chatmail-operator_SRCS := $(sort $(wildcard operator/*.c operator/kube/*.c))
chatmail-operator_INC := operator/kube relay
chatmail-operator_LIBS = $(LIBRELAY)
chatmail-operator_LDLIBS = $(shell $(PKG_CONFIG) --libs libcurl) $(LIBRELAY_LDLIBS)
chatmail-operator_TESTDIR := tests/unit/operator
