# hack/images.mk: make images (hack/images.sh): the Debian base, the
# builder and every runtime image, tagged from images/images.env.
#   make images                 all of them
#   make images IMAGES="services nginx"   some
.PHONY: images
images:
	hack/images.sh $(IMAGES)

# make release REGISTRY=<host>[/<path>] VERSION=<semver> (hack/release.sh):
# every image for amd64 and arm64 as multi-architecture OCI indexes, the
# chart with the image digests, pushed (docs/DESIGN.md, Releases)
.PHONY: release
release:
	REGISTRY="$(REGISTRY)" VERSION="$(VERSION)" hack/release.sh
