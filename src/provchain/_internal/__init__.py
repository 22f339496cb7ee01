"""Private helpers of provchain; nothing here is public API."""
