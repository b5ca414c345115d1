import { ARCHIVE_COLUMNS } from '@lambda/shared';

/**
 * The archive's columns as JSON carries them: an event's times are epoch ms, so a column the
 * archive keeps as a timestamp arrives as BIGINT. Every path into the archive reads records with
 * these types and turns them into the archive's own with `ARCHIVE_SELECT`.
 */
export const JSON_COLUMN_TYPES: ReadonlyArray<readonly [string, string]> = ARCHIVE_COLUMNS.map(([name, type]) => [
  name,
  type === 'TIMESTAMPTZ' ? 'BIGINT' : type,
]);

/** The select list from columns of `JSON_COLUMN_TYPES` to the archive's columns, in order. */
export const ARCHIVE_SELECT = ARCHIVE_COLUMNS.map(([name, type]) =>
  type === 'TIMESTAMPTZ' ? `make_timestamptz(${name} * 1000) AS ${name}` : name,
).join(', ');
