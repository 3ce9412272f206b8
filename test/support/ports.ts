// One free-port picker for the tests, the scripts and the benchmarks.
export { freePort } from '../../scripts/lib/local.mjs';
