include $(sort $(wildcard $(BR2_EXTERNAL_NANOKVM_PY_PATH)/package/*/*.mk))
