# hack/images.mk: make images (hack/images.sh): the Debian base, the
# builder and every runtime image, tagged from images/images.env.
#   make images                 all of them
#   make images IMAGES="services nginx"   some
.PHONY: images
images:
	hack/images.sh $(IMAGES)
