################################################################################
#
# python-pycryptodome
#
################################################################################

PYTHON_PYCRYPTODOME_VERSION = 4.4.0
PYTHON_PYCRYPTODOME_SOURCE = pycryptodome-$(PYTHON_PYCRYPTODOME_VERSION).tar.gz
PYTHON_PYCRYPTODOME_SITE = https://files.pythonhosted.org/packages/51/f2/ccbeb91d186b2323fc99986499d2da3caab2151b1c2fb2ef74f7488d8934
PYTHON_PYCRYPTODOME_SETUP_TYPE = setuptools
PYTHON_PYCRYPTODOME_LICENSE = \
	BSD-2-Clause, \
	Unlicense (pycrypto original code), \
	Apache-2.0 or ISC or MIT (mldsa-native, mlkem-native)
PYTHON_PYCRYPTODOME_LICENSE_FILES = \
	LICENSE.rst \
	Doc/LEGAL/COPYRIGHT.pycrypto \
	src/mldsa-native/LICENSE \
	src/mlkem-native/LICENSE

$(eval $(python-package))
