/** Every artifact kind the generator renders, in one small catalog. */
export default {
  cId: '00000000-0000-4000-8000-000000000002',
  title: 'Full Shop',
  organizationName: 'Full Shop',
  homepageLink: 'https://full.example.com',
};
