"""Plain nn.Modules: no loss, optimizer, AMP or DDP code lives here."""
