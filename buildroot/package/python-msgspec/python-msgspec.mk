################################################################################
#
# python-msgspec
#
################################################################################

PYTHON_MSGSPEC_VERSION = 0.23.0
PYTHON_MSGSPEC_SOURCE = msgspec-$(PYTHON_MSGSPEC_VERSION).tar.gz
PYTHON_MSGSPEC_SITE = https://files.pythonhosted.org/packages/7b/72/c9d89595763e54800d2c136efadfb65c8ae789bc85b8a0c890358f967667
PYTHON_MSGSPEC_SETUP_TYPE = setuptools
PYTHON_MSGSPEC_LICENSE = BSD-3-Clause
PYTHON_MSGSPEC_LICENSE_FILES = LICENSE
# pyproject.toml's build-system asks for setuptools-scm; the version itself
# comes from the sdist's PKG-INFO.
PYTHON_MSGSPEC_DEPENDENCIES = host-python-setuptools-scm

$(eval $(python-package))
