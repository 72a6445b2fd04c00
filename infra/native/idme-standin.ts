// A local stand-in for ID.me (a real OpenID Provider, the same one idme's tests use) so the native stack
// can run the whole verification flow without ID.me credentials. Sign in as "veteran" or "student".
import { ACCOUNTS, startFakeIdme } from '../../services/idme/test/support/fake-idme.js';

const provider = await startFakeIdme({
  port: Number(process.env.IDME_STANDIN_PORT ?? 3011),
  clients: [
    {
      clientId: process.env.IDME_CLIENT_ID!,
      clientSecret: process.env.IDME_CLIENT_SECRET!,
      redirectUris: [process.env.IDME_REDIRECT_URI!],
    },
  ],
});
provider.addAccount('veteran', ACCOUNTS.veteran);
provider.addAccount('student', ACCOUNTS.student);
console.log(JSON.stringify({ msg: 'ID.me stand-in listening', issuer: provider.issuer }));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void provider.close().then(() => process.exit(0)));
}
