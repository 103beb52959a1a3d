/**
 * cert-upload: the certificate and key stores (AT+KCERTSTORE / KCERTDELETE / KPRIVKSTORE /
 * KPRIVKDELETE, docs/reference/bx310x-at.md §3). Store, read back and delete the root, local and key slots;
 * LF and CRLF; PKCS#1, PKCS#8 and EC keys; NbData that matches and that does not; junk data;
 * more than 3000 bytes; overwrite; persistence across a reset.
 *
 * Glossary: module = the device under test; slot = root certificate 0, local certificate 0..2,
 * private key 0..2 [BX-T].
 */
import { describe, expect } from 'vitest';
import { HarnessError } from '../harness/errors.ts';
import { encodeKey, issueCertificate, pemLayout, type Issued } from '../harness/pki/index.ts';
import { hil, type HilContext } from './fixtures.ts';
import { emptyStores as emptyAll } from './helpers.ts';

/** Per-file material: a small CA and two leaves, made once (keys from the file's pool). */
let material: Promise<{ ca: Issued; a: Issued; b: Issued; rsaKey: Issued['key']; ecKey: Issued['key'] }> | undefined;
function certs(ctx: HilContext) {
  material ??= (async () => {
    const rsa = await ctx.pool.get({ type: 'rsa', bits: 2048 }, 'upload-rsa');
    const ec = await ctx.pool.get({ type: 'ec', curve: 'P-256' }, 'upload-ec');
    const ca = await issueCertificate({ subject: 'CN=bx-hil upload CA', key: ec, isCa: true });
    const a = await issueCertificate({ subject: 'CN=upload-a', key: rsa, issuer: ca });
    const b = await issueCertificate({ subject: 'CN=upload-b', key: ec, issuer: ca });
    return { ca, a, b, rsaKey: rsa, ecKey: ec };
  })();
  return material;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HarnessError) return err.code;
    throw err;
  }
  return 'OK';
}

/** The stored certificate for (kind, index), read back with AT+KCERTSTORE?. */
async function stored(ctx: HilContext, kind: 'root' | 'local', index = 0) {
  const list = await ctx.device.listCerts();
  return kind === 'root' ? list.root : list.local.find((c) => c.index === index);
}

/** Every slot empty (slots the driver knows empty are not deleted again: helpers.ts `emptyStores`). */
function emptyStores(ctx: HilContext): Promise<void> {
  return emptyAll(ctx.device);
}

describe('root certificate', () => {
  hil(
    'store with LF line endings and read back the same bytes',
    { scenario: '[BX-T] KCERTSTORE_0001', needs: ['uploads.lf'] },
    async (ctx) => {
      const { ca } = await certs(ctx);
      await emptyStores(ctx);
      await ctx.device.storeCert('root', ca.certPem);
      const got = await stored(ctx, 'root');
      expect(got?.length).toBe(Buffer.byteLength(ca.certPem));
      expect(got?.pem?.trim()).toBe(ca.certPem.trim());
    },
  );

  hil('store with CRLF line endings and read back', { scenario: 'D2', needs: ['uploads.crlf'] }, async (ctx) => {
    const { ca } = await certs(ctx);
    await emptyStores(ctx);
    const crlf = pemLayout(ca.certPem, 'crlf');
    await ctx.device.storeCert('root', crlf);
    const got = await stored(ctx, 'root');
    expect(got?.length).toBe(Buffer.byteLength(crlf));
  });

  hil('PEM without a final newline is stored', { scenario: 'D9' }, async (ctx) => {
    const { ca } = await certs(ctx);
    await emptyStores(ctx);
    const pem = pemLayout(ca.certPem, 'lf-no-final-newline');
    await ctx.device.storeCert('root', pem);
    expect((await stored(ctx, 'root'))?.length).toBe(Buffer.byteLength(pem));
  });

  hil(
    'delete empties the slot and the read form is the bare header',
    { scenario: '[BX-T] KCERTDELETE_0001' },
    async (ctx) => {
      const { ca } = await certs(ctx);
      await emptyStores(ctx);
      await ctx.device.storeCert('root', ca.certPem);
      await ctx.device.deleteCert('root');
      expect(await stored(ctx, 'root')).toBeUndefined();
      expect(await ctx.device.listCerts()).toEqual({ local: [] });
    },
  );

  hil('a second store overwrites the first', { scenario: '[BX-L] setCA' }, async (ctx) => {
    const { ca, a } = await certs(ctx);
    await emptyStores(ctx);
    await ctx.device.storeCert('root', ca.certPem);
    await ctx.device.storeCert('root', a.certPem);
    const got = await stored(ctx, 'root');
    expect(got?.length).toBe(Buffer.byteLength(a.certPem));
    expect(got?.pem.trim()).toBe(a.certPem.trim());
  });

  hil('NbData that matches the bytes sent is accepted', { scenario: '[BX-T] KCERTSTORE_0001 NbData' }, async (ctx) => {
    const { ca } = await certs(ctx);
    await emptyStores(ctx);
    await ctx.device.storeCert('root', ca.certPem, { nbData: Buffer.byteLength(ca.certPem) });
    expect((await stored(ctx, 'root'))?.length).toBe(Buffer.byteLength(ca.certPem));
  });

  hil(
    'NbData that does not match never stores a truncated or padded certificate',
    { scenario: '[guess] uploads.nbDataMismatch' },
    async (ctx) => {
      const { ca } = await certs(ctx);
      await emptyStores(ctx);
      const code = await codeOf(
        ctx.device.storeCert('root', ca.certPem, { nbData: Buffer.byteLength(ca.certPem) - 100 }),
      );
      const got = await stored(ctx, 'root');
      // Either refused (nothing stored) or stored whole: what was sent is what is kept.
      if (code === 'OK') expect(got?.length).toBe(Buffer.byteLength(ca.certPem));
      else expect(got).toBeUndefined();
    },
  );

  hil('NbData of 3001 is refused with 916', { scenario: '[BX-T] KCERTSTORE_0001 NbData range' }, async (ctx) => {
    await ctx.device.at.command('AT+KCERTDELETE=0').catch(() => undefined);
    const err = await ctx.device.at.command('AT+KCERTSTORE=0,3001').catch((e: unknown) => e);
    expect((err as HarnessError).code).toBe('BXHIL_CME');
    expect((err as { cmeCode?: number }).cmeCode).toBe(916);
  });

  hil('more than 3000 bytes in one slot is refused and nothing is stored', { scenario: 'D3' }, async (ctx) => {
    const { ca, a, b } = await certs(ctx);
    await emptyStores(ctx);
    let bundle = '';
    for (const c of [ca, a, b, ca, a, b]) bundle += c.certPem;
    expect(Buffer.byteLength(bundle)).toBeGreaterThan(3000);
    const code = await codeOf(ctx.device.storeCert('root', bundle));
    expect(code).not.toBe('OK');
    expect(await stored(ctx, 'root')).toBeUndefined();
  });

  hil('junk bytes (no PEM armour) are refused', { scenario: 'S22' }, async (ctx) => {
    await emptyStores(ctx);
    const junk = 'this is not a certificate\n\u0001\u0002 binary junk 0123456789\n';
    const code = await codeOf(ctx.device.storeCert('root', junk));
    expect(code).not.toBe('OK');
    expect(await stored(ctx, 'root')).toBeUndefined();
  });

  hil(
    'CR-only line endings (a terminal paste) are refused, not stored garbled',
    { scenario: '[report] field-report-2.6.3 second user' },
    async (ctx) => {
      const { ca } = await certs(ctx);
      await emptyStores(ctx);
      const cr = ca.certPem.replace(/\n/g, '\r');
      const code = await codeOf(ctx.device.storeCert('root', cr));
      const got = await stored(ctx, 'root');
      if (code === 'OK') expect(got?.length).toBe(Buffer.byteLength(cr));
      else expect(got).toBeUndefined();
    },
  );

  hil('the stored root survives a reset', { scenario: '[BX-T] persistence' }, async (ctx) => {
    const { ca } = await certs(ctx);
    await emptyStores(ctx);
    await ctx.device.storeCert('root', ca.certPem);
    await ctx.device.reset();
    expect((await stored(ctx, 'root'))?.length).toBe(Buffer.byteLength(ca.certPem));
  });

  hil(
    'the store command without parameters answers an error',
    { scenario: '[BX-T] KCERTSTORE_0001 917' },
    async (ctx) => {
      const err = await ctx.device.at.command('AT+KCERTSTORE=').catch((e: unknown) => e);
      expect((err as { cmeCode?: number }).cmeCode).toBe(917);
    },
  );
});

describe('local certificates', () => {
  hil('store in slots 0, 1 and 2 and read each back', { scenario: '[BX-T] KCERTSTORE_0001 local' }, async (ctx) => {
    const { ca, a, b } = await certs(ctx);
    await emptyStores(ctx);
    const pems = [a.certPem, b.certPem, ca.certPem];
    for (const [i, pem] of pems.entries()) await ctx.device.storeCert('local', pem, { index: i });
    for (const [i, pem] of pems.entries()) expect((await stored(ctx, 'local', i))?.length).toBe(Buffer.byteLength(pem));
  });

  hil('deleting one slot leaves the others', { scenario: '[BX-T] KCERTDELETE_0002' }, async (ctx) => {
    const { a, b } = await certs(ctx);
    await emptyStores(ctx);
    await ctx.device.storeCert('local', a.certPem, { index: 0 });
    await ctx.device.storeCert('local', b.certPem, { index: 1 });
    await ctx.device.deleteCert('local', 0);
    expect(await stored(ctx, 'local', 0)).toBeUndefined();
    expect((await stored(ctx, 'local', 1))?.length).toBe(Buffer.byteLength(b.certPem));
  });

  hil('slot 3 does not exist (916)', { scenario: '[BX-T] KCERTSTORE_0001 index range' }, async (ctx) => {
    const err = await ctx.device.at.command('AT+KCERTSTORE=1,100,3').catch((e: unknown) => e);
    expect((err as { cmeCode?: number }).cmeCode).toBe(916);
  });

  hil('a local certificate needs its index (917)', { scenario: '[BX-T] KCERTSTORE_0001 917' }, async (ctx) => {
    const err = await ctx.device.at.command('AT+KCERTSTORE=1').catch((e: unknown) => e);
    expect((err as { cmeCode?: number }).cmeCode).toBe(917);
  });
});

describe('private keys', () => {
  const forms = [
    ['PKCS#1 RSA key (BEGIN RSA PRIVATE KEY)', 'keys.pkcs1', 'pkcs1', 'rsa'],
    ['PKCS#8 RSA key (BEGIN PRIVATE KEY)', 'keys.pkcs8', 'pkcs8', 'rsa'],
    ['EC P-256 key as SEC1 (BEGIN EC PRIVATE KEY)', 'keys.sec1', 'sec1', 'ec'],
    ['EC P-256 key as PKCS#8', 'keys.pkcs8', 'pkcs8', 'ec'],
  ] as const;
  for (const [title, cap, encoding, type] of forms) {
    hil(
      `store a ${title}`,
      { scenario: encoding === 'pkcs1' ? '[BX-T] KPRIVKSTORE_0001' : encoding === 'sec1' ? 'D7' : 'D1', needs: [cap] },
      async (ctx) => {
        const m = await certs(ctx);
        await emptyStores(ctx);
        const pem = encodeKey(type === 'rsa' ? m.rsaKey : m.ecKey, encoding);
        await ctx.device.storeKey(0, pem);
        // The key never reaches the transcript or the evidence (the engine redacts data marked secret).
        const body = pem.split('\n')[1]!;
        expect(ctx.evidence.events.some((e) => JSON.stringify(e).includes(body))).toBe(false);
      },
    );
  }

  hil(
    'read form lists the stored keys without echoing key material',
    { scenario: '[BX-T] KPRIVKSTORE_0001 read form' },
    async (ctx) => {
      const m = await certs(ctx);
      await emptyStores(ctx);
      const pem = encodeKey(m.rsaKey, 'pkcs1');
      await ctx.device.storeKey(1, pem);
      const keys = await ctx.device.listKeys();
      expect(keys).toEqual([{ index: 1, length: Buffer.byteLength(pem) }]);
    },
  );

  hil('delete removes the key', { scenario: '[BX-T] KPRIVKDELETE_0001', needs: ['keys.readForm'] }, async (ctx) => {
    const m = await certs(ctx);
    await emptyStores(ctx);
    await ctx.device.storeKey(2, encodeKey(m.ecKey, 'sec1'));
    await ctx.device.deleteKey(2);
    expect((await ctx.device.listKeys()).find((x) => x.index === 2)).toBeUndefined();
  });

  hil('key index 3 is refused (916)', { scenario: '[BX-T] KPRIVKSTORE_0001 index range' }, async (ctx) => {
    const err = await ctx.device.at.command('AT+KPRIVKSTORE=3,100').catch((e: unknown) => e);
    expect((err as { cmeCode?: number }).cmeCode).toBe(916);
  });

  hil('NbData is mandatory for keys (917)', { scenario: '[BX-T] KPRIVKSTORE_0001 917' }, async (ctx) => {
    const err = await ctx.device.at.command('AT+KPRIVKSTORE=1').catch((e: unknown) => e);
    expect((err as { cmeCode?: number }).cmeCode).toBe(917);
  });

  hil('a stored key survives a reset', { scenario: '[BX-T] persistence', needs: ['keys.readForm'] }, async (ctx) => {
    const m = await certs(ctx);
    await emptyStores(ctx);
    const pem = encodeKey(m.rsaKey, 'pkcs1');
    await ctx.device.storeKey(0, pem);
    await ctx.device.reset();
    expect(await ctx.device.listKeys()).toEqual([{ index: 0, length: Buffer.byteLength(pem) }]);
  });
});
