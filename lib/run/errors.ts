/**
 * Errors that name a mistake in what the user gave (a config, a file, a directory), not a bug:
 * a task prints the message alone, without a stack trace, and exits 2.
 *
 * @module
 */

/** A mistake in the user's input; its message says what was given and what was expected. */
export class InputError extends Error {
  override name = "InputError";
}
