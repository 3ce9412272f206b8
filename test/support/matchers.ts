import { expect } from 'vitest';

// vitest types its asymmetric matchers as `any`, which makes every object literal holding one
// untyped; these are the same matchers typed `unknown`.
export const anyString: unknown = expect.any(String);
export const anyNumber: unknown = expect.any(Number);
export const anyObject: unknown = expect.any(Object);
export const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);
