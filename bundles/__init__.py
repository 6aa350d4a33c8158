"""The project's MONAI bundles, shipped inside the package as ``monai_unet2015.bundles``.

This folder is their only source: the wheel maps it to ``monai_unet2015/bundles`` (see
``pyproject.toml``) and :func:`monai_unet2015.bundle.locations.bundle_path` finds a bundle in
it by name. Copy one out to work in with ``python -m monai_unet2015 bundle init NAME DIR``.
"""
