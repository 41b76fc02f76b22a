"""Test doubles: fake clock and fake servers on 127.0.0.1:0 that speak real protocols."""
