# hack/e2e.mk: the relay in containers and the user-facing targets.
#   make e2e        images, then tests/e2e/run.sh: the test node up
#                   (hack/cluster.sh: kubelet, containerd, the operator
#                   from its chart), every e2e test on relays the operator
#                   runs there (hack/relay-k8s.sh), the node down and
#                   checked for leftovers
#   make chart      sync the chart's copies from crds/ and images.env,
#                   drift check, helm lint, helm package (hack/chart.sh)
#   make demo       the whole thing on this machine (hack/demo.sh up)
#   make demo-down  remove everything the demo started
.PHONY: e2e chart demo demo-down
e2e: all images
	tests/e2e/run.sh

chart:
	hack/chart.sh all

demo:
	hack/demo.sh up

demo-down:
	hack/demo.sh down
