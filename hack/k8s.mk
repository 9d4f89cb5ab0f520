# hack/k8s.mk: make targets for the real Kubernetes control plane the
# envtest tier runs against (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok; built from the Go module proxy by hack/k8s-bin.sh).
# Self-contained: it needs nothing from the including Makefile.
#
#   make k8s-bin             build (or reuse) the binaries in ~/.cache
#   make control-plane-up    start the control plane on loopback;
#                            KUBECONFIG=build/control-plane/kubeconfig
#   make control-plane-down  stop it and remove its state
#   make envtest             up, run tests/envtest/run.sh, down (even on failure)

K8S_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: k8s-bin control-plane-up control-plane-down envtest

k8s-bin:
	$(K8S_MK_DIR)/k8s-bin.sh >/dev/null

control-plane-up: k8s-bin
	$(K8S_MK_DIR)/control-plane.sh up

control-plane-down:
	$(K8S_MK_DIR)/control-plane.sh down

envtest:
	$(K8S_MK_DIR)/envtest.sh
