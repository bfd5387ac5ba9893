"""Virtual media: the image library in /data, mounting an image on the gadget's mass-storage LUN,
the virtual network/disk toggles, and image transfers (browser upload, download by URL)."""
