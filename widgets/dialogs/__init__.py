"""Modal dialogs: confirmations, the quit prompt, choices, text input and declaring an incident."""
