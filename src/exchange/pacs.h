/* pacs.h — the link to the hospital's PACS: Orthanc with its DICOMweb
 * plugin, and the modality worklist.
 *
 * A thread (on the node holding the lease "pacs" in a cluster) looks every
 * poll_seconds at the imaging orders still waiting for their study
 * (care/his.h):
 *   - each has a worklist file DIR/<accession>.wl ([pacs] worklist_dir),
 *     written once (again only if it goes missing) by dcmtk's dump2dcm into
 *     a temporary name and renamed, so a worklist server (Orthanc's
 *     ModalityWorklists plugin, or wlmscpfs) never reads half a file; the
 *     modality's C-FIND finds the patient, the procedure and the accession
 *     number there;
 *   - QIDO-RS asks Orthanc for a study with that accession number, less
 *     often the longer the order has waited (ih_pacs_query_every_ms); when
 *     one has arrived it is linked to the order and the worklist file
 *     removed.
 * The newest 500 waiting orders are looked at.
 * Worklist files of orders no longer waiting are removed too.
 *
 * ihosd proxies what a browser may see — never Orthanc itself: the study's
 * series and instances (QIDO-RS), an instance rendered as an image
 * (WADO-RS /rendered), a 12-lead ECG's samples decoded from its DICOM
 * waveform, and a whole-slide image's pyramid and tiles (Orthanc WSI).  The caller checks the care relationship first
 * (ih_his_study_access); UIDs are checked to be UIDs before they reach a
 * URL.  Orthanc is reached over HTTPS (verified; http only on loopback) as
 * the configured user.
 */
#ifndef IH_EXCHANGE_PACS_H
#define IH_EXCHANGE_PACS_H

#include "registry/clinic.h"
#include "core/buf.h"

typedef struct ih_pacs ih_pacs;

typedef struct ih_pacs_opts {
    ih_clinic *clinic;
    ih_store *store;
    const char *url;          /* Orthanc's base URL */
    const char *username;
    const char *password;     /* copied and wiped at free */
    const char *password_file; /* where it came from: read again when the PACS answers 401 ("" never) */
    const char *ca_file;      /* "" system */
    const char *worklist_dir; /* "" no worklist */
    const char *dump2dcm;
    int poll_seconds;
    int utc_offset_minutes;
    const char *node; /* lease holder name; NULL: no lease */
    const char *instance_id; /* names the instance in each order's Study Instance UID */
} ih_pacs_opts;

/* Check the options (url https, or http on loopback); no thread yet. */
ih_err ih_pacs_new(const ih_pacs_opts *o, ih_pacs **out);
ih_err ih_pacs_start(ih_pacs *p);
void ih_pacs_free(ih_pacs *p); /* stops the thread */
/* One look, in the caller's thread (tests, tools). */
ih_err ih_pacs_poll(ih_pacs *p);
/* How often the PACS is asked about an order that has waited waited_ms for
 * its study: every poll_seconds for its first ten minutes (a modality
 * usually sends by then), at most once a minute for its first day, then
 * once every ten minutes — hundreds of waiting orders cost the PACS a few
 * queries a second, not one each per poll. */
int64_t ih_pacs_query_every_ms(int64_t waited_ms, int poll_seconds);

/* The study's series and instances: {"study_uid", "series": [{uid,
 * modality, description, instances: [{uid, number, sop_class, waveform}]}]}. */
ih_err ih_pacs_study(ih_pacs *p, const char *study_uid, json_t **out);
/* One instance rendered (JPEG or PNG as Orthanc gives it); ctype its type. */
ih_err ih_pacs_rendered(ih_pacs *p, const char *study, const char *series, const char *sop, ih_buf *out,
                        char *ctype, size_t ctn);
/* A DICOM waveform's samples, in microvolts: {"frequency", "unit",
 * "channels": [{label, samples: [...]}]} (the first multiplex group, as
 * exchange/waveform.h decodes it). */
ih_err ih_pacs_waveform(ih_pacs *p, const char *study, const char *series, const char *sop, json_t **out);

/* A whole-slide image (pathology; Orthanc's WSI plugin) of series in
 * study: {"series", "levels": [{width, height, tiles_x, tiles_y}] (level 0
 * the finest), "tile_width", "tile_height"}; and one tile of it (JPEG/PNG).
 * A series that is not the study's is not found. */
ih_err ih_pacs_wsi_pyramid(ih_pacs *p, const char *study, const char *series, json_t **out);
ih_err ih_pacs_wsi_tile(ih_pacs *p, const char *study, const char *series, int level, int x, int y, ih_buf *out,
                        char *ctype, size_t ctn);

#endif
