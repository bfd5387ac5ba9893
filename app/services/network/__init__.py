"""Network features (spec 4.7): Wake-on-LAN, Wi-Fi, DNS."""
