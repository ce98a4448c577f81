import { engineConformanceOn } from './conformance-support.js';

// PrismaBackend's own pg pool ({ connectionString }) on PGlite's wire protocol: the run's stand-in
// for prisma/postgres when there is no server.
engineConformanceOn('prisma/pglite-socket', 'a PostgreSQL server runs the { connectionString } path (engine on prisma/postgres)');
