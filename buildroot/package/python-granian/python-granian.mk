################################################################################
#
# python-granian
#
################################################################################

PYTHON_GRANIAN_VERSION = 2.8.9
PYTHON_GRANIAN_SOURCE_PYPI = granian-$(PYTHON_GRANIAN_VERSION).tar.gz
PYTHON_GRANIAN_SITE_PYPI = https://files.pythonhosted.org/packages/19/4a/6da0500d3e6e044837f3134110a60c748a53b99301a7fce1e9df95b3fb8a
PYTHON_GRANIAN_SITE = $(PYTHON_GRANIAN_SITE_PYPI)/$(PYTHON_GRANIAN_SOURCE_PYPI)?buildroot-path=filename
# The maturin setup type pulls in host-rustc and host-python-maturin, and
# vendors the crates of Cargo.lock at download time: the archive in DL_DIR
# (and in the .hash file) is python-granian-<version>-cargo<N>.tar.gz.
PYTHON_GRANIAN_SETUP_TYPE = maturin
PYTHON_GRANIAN_LICENSE = BSD-3-Clause
PYTHON_GRANIAN_LICENSE_FILES = LICENSE
# granian's build-system asks for maturin~=1.14, newer than the
# host-python-maturin of some Buildroot releases; any maturin 1.x builds its
# pyo3 extension, so do not let pypa/build refuse on the version alone.
PYTHON_GRANIAN_BUILD_OPTS = --skip-dependency-check

$(eval $(python-package))
