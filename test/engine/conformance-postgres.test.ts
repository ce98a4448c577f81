import { engineConformanceOn } from './conformance-support.js';

// PrismaBackend on the run's PostgreSQL server with its own pool ({ connectionString }).
engineConformanceOn('prisma/postgres', 'no PostgreSQL server in this run');
