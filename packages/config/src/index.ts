export { loadConfig, ConfigError, type Config, type ConfigProblem, type LoadOptions, type JwtConfig, type JwtAlgorithm, type RabbitMqConfig, type ServerApiConfig, type PresenceConfig } from './config.js';
export { envSchema } from './schema.js';
