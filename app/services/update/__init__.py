"""Application updates (spec 4.8, 9): only bundles signed by a key shipped with the firmware install."""
