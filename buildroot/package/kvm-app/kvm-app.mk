################################################################################
#
# kvm-app
#
################################################################################

# The version of the app in the artifact: pyproject.toml's (the br2-external
# tree's consistency test keeps the two equal).
KVM_APP_VERSION = 0.1.0
# dist/ of the repository this br2-external tree lives in: "task dist"
# writes dist/nanokvm-py.pyz and dist/version (its X.Y.Z) there before
# Buildroot runs.
KVM_APP_SITE = $(BR2_EXTERNAL_NANOKVM_PY_PATH)/../dist
KVM_APP_SITE_METHOD = local
KVM_APP_LICENSE = GPL-3.0+
KVM_APP_PYZ = nanokvm-py.pyz

# Fail at the start of the build, not after an hour of toolchain, when the
# artifact has not been built.
ifeq ($(BR_BUILDING)$(BR2_PACKAGE_KVM_APP),yy)
ifeq ($(wildcard $(KVM_APP_SITE)/$(KVM_APP_PYZ)),)
$(error kvm-app: $(KVM_APP_SITE)/$(KVM_APP_PYZ) is missing; run "task dist" in the repository first)
endif
ifeq ($(wildcard $(KVM_APP_SITE)/version),)
$(error kvm-app: $(KVM_APP_SITE)/version is missing; run "task dist" in the repository first)
endif
endif

# /kvmapp/version is the version the app reports (/api/vm/info, the update
# check) until an update replaces /kvmapp with its own; written by the same
# "task dist" run as the archive, so the two agree.
define KVM_APP_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/$(KVM_APP_PYZ) \
		$(TARGET_DIR)/usr/lib/kvm/$(KVM_APP_PYZ)
	$(INSTALL) -D -m 0644 $(@D)/version $(TARGET_DIR)/kvmapp/version
endef

$(eval $(generic-package))
