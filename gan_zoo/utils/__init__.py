"""Small helpers with no GAN knowledge."""
