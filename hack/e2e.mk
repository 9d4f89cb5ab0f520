# hack/e2e.mk: the relay in containers and the user-facing targets.
#   make e2e        images, then tests/e2e/run.sh: the operator's rendered
#                   Pod in podman with the relay e2e checks, Pod restart,
#                   certificate rotation, CronJobs, and the chart on the
#                   test control plane
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
