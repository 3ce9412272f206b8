#!/usr/bin/env node
// Committed launcher so npm links the command even before the first build.
import '../dist/main.js';
