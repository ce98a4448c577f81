import { engineConformanceOn } from './conformance-support.js';

// PrismaBackend on the run's PostgreSQL server through a caller's Prisma client ({ prisma }).
engineConformanceOn('prisma/postgres-client', 'no PostgreSQL server in this run');
